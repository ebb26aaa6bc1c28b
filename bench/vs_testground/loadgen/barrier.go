package main

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// barrier parks `waiters` connections on one barrier of target `waiters`; a signaller brings
// the state's counter to one short, then sends the last signal_entry. Each waiter's latency
// is from sending that signal to its answer arriving (one trip to the service included).
func barrier(url, tag string, waiters, rounds int) (map[string]any, error) {
	var latencies, rtts []float64
	for r := 0; r < rounds; r++ {
		lat, rtt, err := barrierRound(url, tag+"-"+strconv.Itoa(r), waiters)
		if err != nil {
			return nil, err
		}
		latencies = append(latencies, lat...)
		rtts = append(rtts, rtt)
	}
	return map[string]any{"latency_ms": summary(latencies), "signal_rtt_ms": summary(rtts)}, nil
}

func barrierRound(url, tag string, waiters int) ([]float64, float64, error) {
	conns, err := dialAll(url, waiters+1)
	if err != nil {
		return nil, 0, err
	}
	defer closeAll(conns)
	signaller, waiting := conns[0], conns[1:]
	measure := beginPhase()
	defer measure.end()
	state := tag + "-go"
	barrierReq := []byte(`{"id":"b","barrier":{"state":"` + state + `","target":` + strconv.Itoa(waiters) + `}}`)
	for _, c := range waiting {
		if err := c.WriteMessage(websocket.TextMessage, barrierReq); err != nil {
			return nil, 0, err
		}
	}
	for i := 0; i < waiters-1; i++ {
		req := `{"id":"` + strconv.Itoa(i) + `","signal_entry":{"state":"` + state + `"}}`
		if err := signaller.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			return nil, 0, err
		}
		if r, err := readResponse(signaller); err != nil || r.Error != "" {
			return nil, 0, fmt.Errorf("signal_entry: %v %s", err, r.Error)
		}
	}

	released := make([]time.Time, waiters)
	errs := make([]error, waiters)
	var ready, done sync.WaitGroup
	for i, c := range waiting {
		ready.Add(1)
		done.Add(1)
		go func(i int, c *websocket.Conn) {
			defer done.Done()
			_ = c.SetReadDeadline(time.Now().Add(deadline))
			ready.Done()
			_, data, err := c.ReadMessage()
			released[i] = time.Now()
			if err == nil && !containsAll(data, `"id":"b"`, `"error":""`) {
				err = fmt.Errorf("unexpected barrier answer %s", data)
			}
			errs[i] = err
		}(i, c)
	}
	ready.Wait()
	time.Sleep(100 * time.Millisecond) // every waiter is parked in its read
	runtime.GC()                       // so that no collection of this process lands in the measure
	sent := time.Now()
	last := `{"id":"last","signal_entry":{"state":"` + state + `"}}`
	if err := signaller.WriteMessage(websocket.TextMessage, []byte(last)); err != nil {
		return nil, 0, err
	}
	if _, err := readResponse(signaller); err != nil {
		return nil, 0, err
	}
	rtt := float64(time.Since(sent).Microseconds()) / 1000
	done.Wait()
	out := make([]float64, waiters)
	for i := range released {
		if errs[i] != nil {
			return nil, 0, fmt.Errorf("barrier waiter %d: %w", i, errs[i])
		}
		out[i] = float64(released[i].Sub(sent).Microseconds()) / 1000
	}
	return out, rtt, nil
}
