// Package jsonl is the built-in audit sink that appends every event to a
// JSON Lines file, one record per line, sealed into a hash chain that
// `argus audit verify` checks (the record format is shared/auditlog's).
//
//	audit {
//	  sink "jsonl" "primary" {
//	    file         = "logs/audit.jsonl"
//	    max_size_mb  = 100
//	    backup_count = 5
//	    fsync        = "interval"
//	    hmac_key     = env("AUDIT_HMAC_KEY")
//	  }
//	}
//
// Numbered rotation behaves exactly like Python's RotatingFileHandler;
// rotation = "timestamp" hands the file to lumberjack for timestamped,
// optionally compressed and age-limited backups. The sink repairs a torn
// last line after a crash, resumes the chain and skips events it already
// wrote when the host replays them after a restart. README.md beside this
// file documents the format, rotation, durability and verification.
package jsonl

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/argusmcp/argus/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin describes the jsonl sink.
func Plugin() *sdk.Plugin {
	return sdk.New("jsonl", Version, sdk.AuditSink(sdk.SinkFactory{
		Schema: sdk.NewSchema().
			String("file", "Path of the audit file; relative paths are relative to Argus's working directory. Missing directories are created with mode 0700, files with mode 0600.", sdk.Default("logs/audit.jsonl")).
			Number("max_size_mb", "Rotate before a record would make the file reach this size, in MiB (fractions allowed with numbered rotation). 0 disables numbered rotation; timestamp rotation needs at least 1.", sdk.Default(100)).
			Int("backup_count", "Backups kept. Numbered rotation: file.1 … file.N, and 0 disables rotation. Timestamp rotation: 0 keeps all.", sdk.Default(5)).
			String("fsync", `When records reach the disk: "always" (before each batch is acknowledged), "interval" (every fsync_interval; acknowledgements follow) or "never" (left to the operating system).`, sdk.Default("interval")).
			Duration("fsync_interval", `How often fsync = "interval" syncs.`, sdk.Default("1s")).
			String("rotation", `"numbered" (file.1, file.2, … like Python's RotatingFileHandler) or "timestamp" (lumberjack: name-<UTC time>.ext).`, sdk.Default("numbered")).
			Int("max_age_days", `Timestamp rotation only: delete backups older than this many days; 0 keeps them.`, sdk.Default(0)).
			Bool("compress", `Timestamp rotation only: gzip backups.`, sdk.Default(false)).
			String("head_file", "Where the chain head (seq and hash of the newest durable record, HMAC-keyed with hmac_key) is kept, rewritten atomically after every sync; on start the sink compares the trail with it and records an audit_gap event when records were removed. Default: the audit file's path with .head appended.").
			String("hmac_key", "Key the hash chain with HMAC-SHA256 (at least 16 bytes; surrounding whitespace is ignored). `argus audit verify` then needs the same key.", sdk.Sensitive()),
		Validate: func(cfg sdk.Config) error {
			_, err := parseConfig(cfg)
			return err
		},
		New: func(_ context.Context, cfg sdk.Config) (sdk.Sink, error) {
			c, err := parseConfig(cfg)
			if err != nil {
				return nil, err
			}
			return open(c, cfg.Logger())
		},
	}))
}

// The fsync modes.
const (
	fsyncAlways   = "always"
	fsyncInterval = "interval"
	fsyncNever    = "never"
)

// The rotation modes.
const (
	rotationNumbered  = "numbered"
	rotationTimestamp = "timestamp"
)

// minKey is the shortest hmac_key accepted (128 bits).
const minKey = 16

// config is a validated configuration.
type config struct {
	File          string
	MaxBytes      int64 // numbered rotation: int(max_size_mb * 1 MiB)
	MaxSizeMB     int   // timestamp rotation
	BackupCount   int
	Fsync         string
	FsyncInterval time.Duration
	Rotation      string
	MaxAgeDays    int
	Compress      bool
	Key           []byte
	HeadFile      string // "": File + auditlog.HeadSuffix (see open)
}

func parseConfig(cfg sdk.Config) (config, error) {
	c := config{
		File:          cfg.String("file"),
		Fsync:         cfg.String("fsync"),
		FsyncInterval: cfg.Duration("fsync_interval"),
		Rotation:      cfg.String("rotation"),
		Compress:      cfg.Bool("compress"),
	}
	var errs []error
	bad := func(attr, format string, args ...any) { errs = append(errs, sdk.Errorf(attr, format, args...)) }

	if strings.TrimSpace(c.File) == "" {
		bad("file", "The audit file's path must not be empty.")
	} else if strings.HasSuffix(c.File, "/") {
		bad("file", "%q names a directory; give a file name such as %q.", c.File, c.File+"audit.jsonl")
	}
	switch c.Fsync {
	case fsyncAlways, fsyncNever:
	case fsyncInterval:
		if c.FsyncInterval <= 0 {
			bad("fsync_interval", "The interval must be greater than zero.")
		}
	default:
		bad("fsync", "%q is not a mode; use \"always\", \"interval\" or \"never\".", c.Fsync)
	}

	mb := cfg.Float("max_size_mb")
	backups, age := cfg.Int("backup_count"), cfg.Int("max_age_days")
	if backups < 0 || backups > math.MaxInt32 {
		bad("backup_count", "%d is not a number of backups: use 0 or more.", backups)
	}
	if age < 0 || age > math.MaxInt32 {
		bad("max_age_days", "%d is not a number of days: use 0 (keep) or more.", age)
	}
	c.BackupCount, c.MaxAgeDays = int(backups), int(age)
	const maxMB = 1 << 20 // 1 TiB
	switch {
	case !(mb >= 0):
		bad("max_size_mb", "%v is negative; use 0 to disable rotation.", mb)
	case mb > maxMB:
		bad("max_size_mb", "%v MiB is more than %d MiB.", mb, maxMB)
	}
	switch c.Rotation {
	case rotationNumbered:
		if mb >= 0 && mb <= maxMB {
			c.MaxBytes = int64(mb * (1 << 20))
			if mb > 0 && c.MaxBytes == 0 {
				bad("max_size_mb", "%v MiB is less than one byte.", mb)
			}
		}
		if c.Compress {
			bad("compress", `compress applies only to rotation = "timestamp"; numbered backups are never compressed.`)
		}
		if age > 0 {
			bad("max_age_days", `max_age_days applies only to rotation = "timestamp"; numbered rotation keeps backup_count backups.`)
		}
	case rotationTimestamp:
		// lumberjack takes whole MiB, and fails any write larger than
		// that: a limit below 1 MiB could reject a record outright.
		if mb >= 0 && mb <= maxMB {
			if mb < 1 || mb != math.Trunc(mb) {
				bad("max_size_mb", `With rotation = "timestamp" the size must be a whole number of at least 1 (got %v): lumberjack counts whole MiB.`, mb)
			}
			c.MaxSizeMB = int(mb)
		}
	default:
		bad("rotation", "%q is not a rotation mode; use \"numbered\" or \"timestamp\".", c.Rotation)
	}
	c.HeadFile = cfg.String("head_file")
	if c.HeadFile != "" && c.HeadFile == c.File {
		bad("head_file", "The head file must not be the audit file itself.")
	}
	if cfg.Has("hmac_key") {
		key := strings.TrimSpace(cfg.String("hmac_key"))
		if len(key) < minKey {
			bad("hmac_key", "The key is %d bytes long; use at least %d (for example 32 random bytes, hex-encoded).", len(key), minKey)
		}
		c.Key = []byte(key)
	}
	return c, errors.Join(errs...)
}
