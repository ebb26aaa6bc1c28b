package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func containsAll(data []byte, parts ...string) bool {
	for _, p := range parts {
		if !bytes.Contains(data, []byte(p)) {
			return false
		}
	}
	return true
}

// fanout subscribes `subscribers` connections to one topic, then one more connection
// publishes `messages` messages on it, one at a time (each waits for its acknowledgement,
// as a plan's publish loop does). Fan-out time runs from the first publish to the last
// subscriber holding every message; the acknowledgement latencies show how promptly the
// service answers publishers while it is delivering.
func fanout(url, tag string, subscribers, messages int) (map[string]any, error) {
	conns, err := dialAll(url, subscribers+1)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	publisher, subs := conns[0], conns[1:]
	topic := tag + "-fan"
	subscribe := []byte(`{"id":"s","subscribe":{"topic":"` + topic + `"}}`)
	for _, c := range subs {
		if err := c.WriteMessage(websocket.TextMessage, subscribe); err != nil {
			return nil, err
		}
	}
	time.Sleep(200 * time.Millisecond) // subscriptions registered (history covers any that are not)

	finished := make([]time.Time, len(subs))
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, c := range subs {
		wg.Add(1)
		go func(i int, c *websocket.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(deadline))
			for got := 0; got < messages; got++ {
				_, data, err := c.ReadMessage()
				if err == nil && !containsAll(data, `"id":"s"`, `"error":""`) {
					err = fmt.Errorf("unexpected subscription frame %s", data)
				}
				// The payload is the JSON text of {"n":k}: messages arrive in publish order.
				if err == nil && !bytes.Contains(data, []byte(`n\":`+strconv.Itoa(got)+`}`)) {
					err = fmt.Errorf("frame %d out of order: %s", got, data)
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
			finished[i] = time.Now()
		}(i, c)
	}

	acks := make([]float64, messages)
	measure := beginPhase()
	start := time.Now()
	var msg strings.Builder
	for n := 0; n < messages; n++ {
		msg.Reset()
		msg.WriteString(`{"id":"`)
		msg.WriteString(strconv.Itoa(n))
		msg.WriteString(`","publish":{"topic":"` + topic + `","payload":{"n":`)
		msg.WriteString(strconv.Itoa(n))
		msg.WriteString(`}}}`)
		sent := time.Now()
		if err := publisher.WriteMessage(websocket.TextMessage, []byte(msg.String())); err != nil {
			return nil, err
		}
		r, err := readResponse(publisher)
		if err != nil || r.Error != "" {
			return nil, fmt.Errorf("publish %d: %v %s", n, err, r.Error)
		}
		acks[n] = float64(time.Since(sent).Microseconds()) / 1000
	}
	published := time.Since(start).Seconds()
	wg.Wait()
	measure.end()
	last := start
	for i := range subs {
		if errs[i] != nil {
			return nil, fmt.Errorf("subscriber %d: %w", i, errs[i])
		}
		if finished[i].After(last) {
			last = finished[i]
		}
	}
	return map[string]any{
		"fanout_s":   last.Sub(start).Seconds(),
		"publish_s":  published,
		"ack_ms":     summary(acks),
		"deliveries": subscribers * messages,
	}, nil
}
