package bench

import (
	"context"
	"io"
	"net"
	"os"
	"testing"
)

// BenchmarkLoopbackEcho measures the floor under every call of
// BenchmarkExternal: the same load generator, 1,000 requests/s for 10 s
// (RETAIN_BENCH_DURATION), against a Go TCP echo server in another
// process, a 64-byte request and reply on one of 64 connections per
// call: the loopback round trip and the two processes' wake-ups with no
// HTTP/2, protobuf or handler. The same binary is the echo server when
// RETAIN_BENCH_ECHO_SERVE is set, so that it can be pinned like
// `retain serve`:
//
//	go test -c -o /tmp/bench.test ./serve/bench
//	RETAIN_BENCH_ECHO_SERVE=127.0.0.1:7272 GOMAXPROCS=1 taskset -c 1 \
//	    /tmp/bench.test -test.run '^$' -test.bench LoopbackEcho &
//	RETAIN_BENCH_ECHO_ADDR=127.0.0.1:7272 GOMAXPROCS=1 taskset -c 0 \
//	    /tmp/bench.test -test.run '^$' -test.bench LoopbackEcho -test.benchtime 1x
//
// The server serves until killed.
func BenchmarkLoopbackEcho(b *testing.B) {
	if addr := os.Getenv("RETAIN_BENCH_ECHO_SERVE"); addr != "" {
		echoServe(b, addr)
		return
	}
	addr := os.Getenv("RETAIN_BENCH_ECHO_ADDR")
	if addr == "" {
		b.Skip("RETAIN_BENCH_ECHO_ADDR not set: no echo server to load")
	}
	const conns = 64
	pool := make(chan net.Conn, conns)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pool <- c
	}
	cfg := Config{Rate: 1000, Duration: benchDuration(b), MaxInFlight: conns}
	for range b.N {
		res, err := Run(context.Background(), cfg, func(ctx context.Context, _ int) error {
			c := <-pool
			defer func() { pool <- c }()
			if d, ok := ctx.Deadline(); ok { // Config.Timeout
				c.SetDeadline(d)
			}
			var buf [64]byte
			if _, err := c.Write(buf[:]); err != nil {
				return err
			}
			_, err := io.ReadFull(c, buf[:])
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Fatalf("echo: %v", res.FirstErr)
		}
		b.Logf("echo: %v", res)
	}
}

// echoServe answers every 64 bytes read on a connection with them, until
// the process is killed.
func echoServe(b *testing.B, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer c.Close()
			var buf [64]byte
			for {
				if _, err := io.ReadFull(c, buf[:]); err != nil {
					return
				}
				if _, err := c.Write(buf[:]); err != nil {
					return
				}
			}
		}()
	}
}
