package shared_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	_ "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// TestGeneratedCodeIsCurrent compiles the .proto files with a pure-Go
// compiler and compares the result with the descriptors embedded in the
// committed Go code, so an edited .proto without `make generate` fails
// here, offline and in milliseconds. (`make check-generate` additionally
// regenerates with the pinned tools and diffs byte for byte.)
func TestGeneratedCodeIsCurrent(t *testing.T) {
	files, err := filepath.Glob("proto/argus/plugin/v1/*.proto")
	if err != nil || len(files) == 0 {
		t.Fatalf("no .proto files: %v", err)
	}
	var names []string
	for _, f := range files {
		rel, _ := filepath.Rel("proto", f)
		names = append(names, filepath.ToSlash(rel))
	}
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"proto"}}),
	}
	compiled, err := compiler.Compile(context.Background(), names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range compiled {
		want := normalize(protodesc.ToFileDescriptorProto(f))
		gen, err := protoregistry.GlobalFiles.FindFileByPath(f.Path())
		if err != nil {
			t.Errorf("%s: no generated Go code (run make generate): %v", f.Path(), err)
			continue
		}
		if got := normalize(protodesc.ToFileDescriptorProto(gen)); !proto.Equal(got, want) {
			t.Errorf("%s: the generated Go code is stale; run make generate", f.Path())
		}
	}
	if _, err := os.Stat("proto/buf.gen.yaml"); err != nil {
		t.Error(err)
	}
}

// normalize drops what compilers may fill in differently.
func normalize(fd *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
	fd = proto.Clone(fd).(*descriptorpb.FileDescriptorProto)
	fd.SourceCodeInfo = nil
	var clear func(m *descriptorpb.DescriptorProto)
	clear = func(m *descriptorpb.DescriptorProto) {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		for _, n := range m.NestedType {
			clear(n)
		}
	}
	for _, m := range fd.MessageType {
		clear(m)
	}
	return fd
}
