package main

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

var ok = []byte(`"error":""`)

// request is one throughput request: a signal_entry on one of ten states, or a publish of a
// small object on one topic (sync_bench.py's shapes).
func request(buf []byte, op, tag string, client, n int) []byte {
	buf = append(buf[:0], `{"id":"`...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	if op == "signal_entry" {
		buf = append(buf, `","signal_entry":{"state":"`...)
		buf = append(buf, tag...)
		buf = append(buf, "-s"...)
		buf = strconv.AppendInt(buf, int64(client%10), 10)
		return append(buf, `"}}`...)
	}
	buf = append(buf, `","publish":{"topic":"`...)
	buf = append(buf, tag...)
	buf = append(buf, `-pub","payload":{"c":`...)
	buf = strconv.AppendInt(buf, int64(client), 10)
	buf = append(buf, `,"n":`...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	return append(buf, `}}}`...)
}

// throughput keeps `window` requests in flight on each of `clients` connections for
// `seconds` (a new request each time an answer arrives) and counts the answers.
func throughput(url, tag, op string, clients, window int, seconds float64) (map[string]any, error) {
	if op != "signal_entry" && op != "publish" {
		return nil, fmt.Errorf("unknown op %q", op)
	}
	conns, err := dialAll(url, clients)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered int
		errors   int
		firstErr error
	)
	cpu0 := cpuSeconds()
	measure := beginPhase()
	start := time.Now()
	stopAt := start.Add(time.Duration(seconds * float64(time.Second)))
	for k, c := range conns {
		wg.Add(1)
		go func(k int, c *websocket.Conn) {
			defer wg.Done()
			var buf []byte
			sent, got, bad := 0, 0, 0
			var err error
			send := func() {
				buf = request(buf, op, tag, k, sent)
				sent++
				if err == nil {
					err = c.WriteMessage(websocket.TextMessage, buf)
				}
			}
			for i := 0; i < window; i++ {
				send()
			}
			_ = c.SetReadDeadline(time.Now().Add(deadline))
			for err == nil && got < sent {
				var data []byte
				_, data, err = c.ReadMessage()
				if err != nil {
					break
				}
				got++
				if !bytes.Contains(data, ok) {
					bad++
				}
				if time.Now().Before(stopAt) {
					send()
				}
			}
			mu.Lock()
			answered += got
			errors += bad
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}(k, c)
	}
	wg.Wait()
	measure.end()
	elapsed := time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	if firstErr != nil {
		return nil, fmt.Errorf("%s with %d clients: %w", op, clients, firstErr)
	}
	return map[string]any{
		"ops":          answered,
		"ops_s":        float64(answered) / elapsed,
		"errors":       errors,
		"elapsed_s":    elapsed,
		"gen_load_cpu": cpu,
	}, nil
}
