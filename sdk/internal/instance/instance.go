// Package instance keeps the one instance a plugin process serves (a
// Sink, Exporter or Probe built by the factory's New) through its
// lifecycle: configured once, flushed and closed once, and whatever a
// failed New returned closed, so a failed New leaks nothing it handed
// back.
package instance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// flusher and closer are sdk.Flusher and sdk.Closer.
type (
	flusher interface {
		Flush(ctx context.Context) error
	}
	closer interface {
		Close(ctx context.Context) error
	}
)

// ErrConfigured is Fill's error for a slot already filled or closed (a
// FailedPrecondition status).
var ErrConfigured = status.Error(codes.FailedPrecondition, "the plugin is already configured; a process serves one instance")

// Slot holds the configured instance and what it uses (the connection to
// the host service). The zero Slot is empty. Safe for concurrent use.
type Slot struct {
	mu       sync.Mutex
	inst     any
	conn     io.Closer // closed with the instance; nil if none
	closed   bool
	closeErr error
}

// Get returns the configured instance, or a FailedPrecondition status
// error when there is none yet or it is closed.
func (s *Slot) Get() (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, status.Error(codes.FailedPrecondition, "the plugin instance is shut down")
	case s.inst == nil:
		return nil, status.Error(codes.FailedPrecondition, "the plugin is not configured")
	}
	return s.inst, nil
}

// Fill runs build while holding the slot, which must be empty and open (a
// ErrConfigured otherwise), and keeps the instance it
// returns. When build fails, the conn it returned (if any) is closed and
// its error returned as is.
func (s *Slot) Fill(build func() (inst any, conn io.Closer, err error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inst != nil || s.closed {
		return ErrConfigured
	}
	inst, conn, err := build()
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return err
	}
	s.inst, s.conn = inst, conn
	return nil
}

// Close flushes (Flusher) and closes (Closer) the instance and closes its
// connection, once; later calls return the first result. Get fails from
// then on, and Fill too.
func (s *Slot) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	var errs []error
	if f, ok := s.inst.(flusher); ok {
		if err := f.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush: %w", err))
		}
	}
	if c, ok := s.inst.(closer); ok {
		if err := c.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.conn != nil {
		s.conn.Close()
	}
	s.closeErr = errors.Join(errs...)
	return s.closeErr
}

// ClosePartial closes what a failed New returned: a Closer, or an
// io.Closer. A nil instance (or nil pointer) is nothing to close.
func ClosePartial(ctx context.Context, v any) error {
	if IsNil(v) {
		return nil
	}
	switch c := v.(type) {
	case closer:
		return c.Close(ctx)
	case io.Closer:
		return c.Close()
	}
	return nil
}

// IsNil reports whether v is nil or a nil pointer, map, slice, func or
// channel held in an interface.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
