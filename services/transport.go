package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"rectify/events"
	"rectify/services/natsx"
)

// ServeNATS answers the commands that gateways send with
// natsx.SendCommand: one micro endpoint per command name, all in the
// command queue group, so each command is executed by exactly one of the
// running command services. It returns when ctx is done.
func (s *Service) ServeNATS(ctx context.Context, nc *nats.Conn, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        natsx.CommandService,
		Version:     "1.0.0",
		Description: "rectify command side",
		QueueGroup:  natsx.CommandQueueGroup,
	})
	if err != nil {
		return fmt.Errorf("command service: %w", err)
	}
	defer svc.Stop()
	for _, name := range events.CommandNames() {
		name := name
		handler := micro.HandlerFunc(func(req micro.Request) {
			// Each command on a goroutine of its own: micro delivers one
			// endpoint's requests one after another, and the store's group
			// commit needs many appends in flight to batch them.
			go func() {
				rep := s.executeWire(ctx, name, req.Data())
				if rep.Error != nil && rep.Error.Code == events.CodeInternal {
					logger.Error("command failed", "command", name, "err", rep.Error.Err)
					rep.Error = &events.Error{Code: events.CodeInternal, Message: "internal error"}
				}
				b, _ := json.Marshal(rep)
				if err := req.Respond(b); err != nil {
					logger.Warn("command reply lost", "command", name, "err", err)
				}
			}()
		})
		ep := "cmd_" + strings.NewReplacer(".", "_").Replace(name)
		if err := svc.AddEndpoint(ep, handler, micro.WithEndpointSubject(natsx.CommandSubject(name)), micro.WithEndpointQueueGroup(natsx.CommandQueueGroup)); err != nil {
			return fmt.Errorf("command endpoint %s: %w", name, err)
		}
	}
	// Readiness probes ask here whether a command service runs and can
	// read its store (natsx.CommandsStatus).
	status := micro.HandlerFunc(func(req micro.Request) {
		go func() {
			var st natsx.CommandStatus
			head, err := s.store.Head(ctx)
			if err != nil {
				logger.Warn("status: event store head", "err", err)
				st.Error = events.Wrap(events.CodeUnavailable, err, "the event store cannot be read")
			}
			st.Head = head
			b, _ := json.Marshal(st)
			if err := req.Respond(b); err != nil {
				logger.Debug("status reply lost", "err", err)
			}
		}()
	})
	if err := svc.AddEndpoint("status", status, micro.WithEndpointSubject(natsx.StatusSubject(natsx.CommandService)), micro.WithEndpointQueueGroup(natsx.CommandQueueGroup)); err != nil {
		return fmt.Errorf("status endpoint: %w", err)
	}
	<-ctx.Done()
	return nil
}

// executeWire decodes and executes one command received over NATS.
func (s *Service) executeWire(ctx context.Context, name string, data []byte) natsx.CommandReply {
	var req natsx.CommandRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return natsx.CommandReply{Error: events.Errorf(events.CodeInvalid, "malformed command request: %v", err)}
	}
	cmd, err := events.DecodeCommand(name, req.Command)
	if err != nil {
		return natsx.CommandReply{Error: asError(err)}
	}
	res, err := s.Execute(ctx, cmd, Meta{
		Actor:          req.Actor,
		CorrelationID:  req.CorrelationID,
		CausationID:    req.CausationID,
		IdempotencyKey: req.IdempotencyKey,
	})
	if err != nil {
		return natsx.CommandReply{Error: asError(err)}
	}
	rep := natsx.CommandReply{Stream: res.Stream, ID: res.ID, Revision: res.Revision, Position: res.Position, Events: res.Events, Extra: res.Extra}
	if res.Detail != nil {
		b, err := json.Marshal(res.Detail)
		if err != nil {
			return natsx.CommandReply{Error: events.Wrap(events.CodeInternal, err, "encode command detail")}
		}
		rep.Detail = b
	}
	return rep
}

func asError(err error) *events.Error {
	var e *events.Error
	if errors.As(err, &e) {
		return e
	}
	return events.Wrap(events.CodeInternal, err, "internal error")
}
