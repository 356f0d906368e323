package instancewire

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// prefaceWait bounds how long a new connection may take to send the
// Preface.
const prefaceWait = 10 * time.Second

// Server serves a flamev1.InstanceServer over the framed wire, with the
// stopping behaviour of a grpc.Server: GracefulStop lets the call in
// progress finish and its response go out, Stop cancels it.
type Server struct {
	h flamev1.InstanceServer

	ctx    context.Context // calls' contexts derive from it; Stop cancels it
	cancel context.CancelFunc

	mu       sync.Mutex
	lis      net.Listener
	conns    map[*serverConn]struct{}
	stopping bool // no new connections or calls
	wg       sync.WaitGroup
}

// serverConn is one connection; busy and closed are guarded by Server.mu.
type serverConn struct {
	c      net.Conn
	busy   bool
	closed bool
}

// NewServer returns a server of h.
func NewServer(h flamev1.InstanceServer) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{h: h, ctx: ctx, cancel: cancel, conns: make(map[*serverConn]struct{})}
}

// Serve accepts connections on lis until the server stops (it then returns
// nil) or lis fails. It closes lis.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		_ = lis.Close()
		return nil
	}
	s.lis = lis
	s.mu.Unlock()
	for {
		c, err := lis.Accept()
		if err != nil {
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			_ = lis.Close()
			if stopping {
				return nil
			}
			return err
		}
		sc := &serverConn{c: c}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(sc)
	}
}

// GracefulStop stops accepting connections and calls, closes idle
// connections, and returns when the calls in progress have answered (or
// Stop was called).
func (s *Server) GracefulStop() {
	s.shut(false)
	s.wg.Wait()
}

// Stop closes the listener and every connection and cancels the calls in
// progress. It does not wait for their handlers, which may not return.
func (s *Server) Stop() {
	s.shut(true)
	s.cancel()
	s.wg.Wait()
}

// shut stops accepting and closes the idle connections, or all of them.
func (s *Server) shut(all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	if s.lis != nil {
		_ = s.lis.Close()
	}
	for sc := range s.conns {
		if all || !sc.busy {
			s.closeLocked(sc)
		}
	}
}

func (s *Server) closeLocked(sc *serverConn) {
	if !sc.closed {
		sc.closed = true
		_ = sc.c.Close()
	}
	delete(s.conns, sc)
}

// serveConn reads a connection's requests. Each call runs in a goroutine
// of its own so that the reader notices the client going away (and cancels
// the call) while the call runs.
func (s *Server) serveConn(sc *serverConn) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	defer func() {
		cancel()
		s.mu.Lock()
		s.closeLocked(sc)
		s.mu.Unlock()
	}()
	r := bufio.NewReaderSize(sc.c, 32<<10)
	if !s.handshake(sc.c, r) {
		return
	}
	var hdr [headerLen]byte
	var buf []byte
	// idle holds a token while no call runs. A call's goroutine returns it
	// after its answer went out; a request that arrives first (the client
	// saw the answer before the goroutine finished) waits for it.
	idle := make(chan struct{}, 1)
	idle <- struct{}{}
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		kind, size := parseHeader(hdr[:])
		if size > MaxMessageSize {
			return
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		payload := buf[:size]
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		req := newRequest(kind)
		var decodeErr error
		if req != nil {
			// proto.Unmarshal copies bytes fields: buf is free again after.
			decodeErr = proto.Unmarshal(payload, req)
		}
		if cap(buf) > keepBuffer {
			buf = nil
		}
		select {
		case <-idle:
		case <-ctx.Done(): // Stop, while a call runs that may never return
			return
		}
		if !s.begin(sc) {
			return // stopping
		}
		go func() {
			s.call(ctx, sc, kind, req, decodeErr)
			idle <- struct{}{}
		}()
	}
}

// handshake reads the client's Preface and echoes it.
func (s *Server) handshake(c net.Conn, r *bufio.Reader) bool {
	_ = c.SetReadDeadline(time.Now().Add(prefaceWait))
	got := make([]byte, len(Preface))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != Preface {
		return false
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return false
	}
	_, err := io.WriteString(c, Preface)
	return err == nil
}

// begin marks sc busy; false means the call must not run: the server is
// stopping.
func (s *Server) begin(sc *serverConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || sc.closed {
		return false
	}
	sc.busy = true
	return true
}

// end marks sc idle after its answer went out, and closes it if the
// server is stopping gracefully.
func (s *Server) end(sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc.busy = false
	if s.stopping {
		s.closeLocked(sc)
	}
}

func newRequest(kind byte) proto.Message {
	switch kind {
	case KindEnter:
		return new(flamev1.SessionContext)
	case KindInvoke:
		return new(flamev1.TaskContext)
	case KindLeave:
		return new(flamev1.EmptyRequest)
	}
	return nil
}

// call runs one request and writes its response frame.
func (s *Server) call(ctx context.Context, sc *serverConn, kind byte, req proto.Message, decodeErr error) {
	var resp proto.Message
	var err error
	switch {
	case req == nil:
		err = status.Errorf(codes.Unimplemented, "unknown call kind %d on the framed instance wire", kind)
	case decodeErr != nil:
		err = status.Errorf(codes.Internal, "decode the request: %v", decodeErr)
	default:
		switch kind {
		case KindEnter:
			resp, err = s.h.OnSessionEnter(ctx, req.(*flamev1.SessionContext))
		case KindInvoke:
			resp, err = s.h.OnTaskInvoke(ctx, req.(*flamev1.TaskContext))
		case KindLeave:
			resp, err = s.h.OnSessionLeave(ctx, req.(*flamev1.EmptyRequest))
		}
	}
	_, _ = sc.c.Write(responseFrame(resp, err))
	s.end(sc)
}

// responseFrame encodes a handler's answer.
func responseFrame(resp proto.Message, err error) []byte {
	if err == nil {
		frame, merr := proto.MarshalOptions{}.MarshalAppend(make([]byte, headerLen, headerLen+64), resp)
		switch {
		case merr != nil:
			err = status.Errorf(codes.Internal, "encode the response: %v", merr)
		case len(frame)-headerLen > MaxMessageSize:
			err = status.Errorf(codes.ResourceExhausted, "response of %d bytes is larger than the %d an instance call carries",
				len(frame)-headerLen, MaxMessageSize)
		default:
			putHeader(frame, byte(codes.OK), len(frame)-headerLen)
			return frame
		}
	}
	st := status.Convert(err) // Unknown for an error without a status
	msg := st.Message()
	frame := make([]byte, headerLen+len(msg))
	putHeader(frame, byte(st.Code()), len(msg))
	copy(frame[headerLen:], msg)
	return frame
}
