package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/outpost-dev/outpost/session"
	"go.opentelemetry.io/otel/trace"
)

// tracedStore is the session store as an application sees it with tracing
// on: the calls a request waits on get a span each, under the request's
// when that one records. Only applications use it: the revocation feed
// and the assertion keys see the store itself. With tracing off the store
// is not wrapped at all.
type tracedStore struct {
	session.Store
	tracer trace.Tracer
}

func traceStore(s session.Store, tr trace.Tracer) session.Store {
	if tr == nil {
		return s
	}
	return tracedStore{Store: s, tracer: tr}
}

func (t tracedStore) span(ctx context.Context, name string) (context.Context, trace.Span) {
	return childSpan(t.tracer, ctx, name, trace.SpanKindClient)
}

func (t tracedStore) Get(ctx context.Context, id string) (*session.Session, error) {
	ctx, sp := t.span(ctx, spanSessionGet)
	s, err := t.Store.Get(ctx, id)
	switch {
	case errors.Is(err, session.ErrNotFound):
		endSpan(sp, "not_found", nil)
	case err != nil:
		endSpan(sp, "error", err)
	default:
		endSpan(sp, "found", nil)
	}
	return s, err
}

func (t tracedStore) Save(ctx context.Context, s *session.Session) error {
	ctx, sp := t.span(ctx, spanSessionSave)
	err := t.Store.Save(ctx, s)
	endSpan(sp, outcomeOf(err), err)
	return err
}

func (t tracedStore) SaveIfExists(ctx context.Context, s *session.Session) (bool, error) {
	ctx, sp := t.span(ctx, spanSessionSaveX)
	saved, err := t.Store.SaveIfExists(ctx, s)
	outcome := outcomeOf(err)
	if err == nil && !saved {
		outcome = "gone"
	}
	endSpan(sp, outcome, err)
	return saved, err
}

func (t tracedStore) Delete(ctx context.Context, id string) error {
	ctx, sp := t.span(ctx, spanSessionDel)
	err := t.Store.Delete(ctx, id)
	endSpan(sp, outcomeOf(err), err)
	return err
}

func (t tracedStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	ctx, sp := t.span(ctx, spanSessionLock)
	unlock, err := t.Store.Lock(ctx, key, ttl)
	endSpan(sp, outcomeOf(err), err)
	return unlock, err
}
