package discard_test

import (
	"testing"

	"github.com/argusmcp/argus/plugins/discard"
	"github.com/argusmcp/argus/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	sdktest.SinkConformance(t, discard.Plugin(), "")
}
