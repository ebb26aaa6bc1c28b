// Command loadgen drives a Testground sync service (Testground's Go one or Choreograph's)
// over its websocket JSON protocol and prints one JSON object of results on stdout.
//
// It is the load generator of bench/vs_testground.py: the same binary, the same load, against
// both services. It also serves two stand-ins the benchmark needs for Testground's local
// runner: "idle" (a container process that does nothing) and "influx" (an InfluxDB 1.x write
// endpoint that accepts and discards every batch).
//
//	loadgen throughput -url ws://127.0.0.1:5050 -op signal_entry -clients 100 -window 16 -seconds 3
//	loadgen barrier    -url ws://127.0.0.1:5050 -waiters 1000 -rounds 3
//	loadgen fanout     -url ws://127.0.0.1:5050 -subscribers 1000 -messages 1000
//	loadgen idle
//	loadgen influx     -listen :8086
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// deadline bounds every wait, so a service that stops answering fails the measure
// instead of hanging the benchmark.
const deadline = 180 * time.Second

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: loadgen throughput|barrier|fanout|idle|influx [flags]"))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	url := fs.String("url", "ws://127.0.0.1:5050", "sync service address")
	tag := fs.String("tag", "t", "prefix of the states and topics this run uses")
	op := fs.String("op", "signal_entry", "throughput: signal_entry or publish")
	clients := fs.Int("clients", 1, "throughput: connections")
	window := fs.Int("window", 1, "throughput: requests in flight per connection")
	seconds := fs.Float64("seconds", 3, "throughput: duration")
	waiters := fs.Int("waiters", 1000, "barrier: waiting connections")
	rounds := fs.Int("rounds", 1, "barrier: rounds")
	subscribers := fs.Int("subscribers", 1000, "fanout: subscribing connections")
	messages := fs.Int("messages", 1000, "fanout: messages published")
	listen := fs.String("listen", ":8086", "influx: listen address")
	fs.IntVar(&servicePid, "pid", 0, "the service's process id, to report its CPU time")
	_ = fs.Parse(os.Args[2:])

	var (
		out map[string]any
		err error
	)
	before := cpuSeconds()
	start := time.Now()
	switch os.Args[1] {
	case "throughput":
		out, err = throughput(*url, *tag, *op, *clients, *window, *seconds)
	case "barrier":
		out, err = barrier(*url, *tag, *waiters, *rounds)
	case "fanout":
		out, err = fanout(*url, *tag, *subscribers, *messages)
	case "idle":
		waitSignal()
		return
	case "influx":
		err = influx(*listen)
		if err == nil {
			return
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	out["gen_cpu_s"] = cpuSeconds() - before
	out["gen_wall_s"] = time.Since(start).Seconds()
	out["phase_wall_s"] = measured.wall
	out["phase_gen_cpu_s"] = measured.gen
	out["phase_svc_cpu_s"] = measured.svc
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

// cpuSeconds is this process's user + system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

var servicePid int

// phase is the measured part of a command (connections made, before they close): its wall
// time and the CPU time this process and the service spent in it.
type phase struct{ wall, gen, svc float64 }

var measured phase

func beginPhase() phase {
	return phase{float64(time.Now().UnixNano()) / 1e9, cpuSeconds(), serviceCPU()}
}

func (p phase) end() {
	measured.wall += float64(time.Now().UnixNano())/1e9 - p.wall
	measured.gen += cpuSeconds() - p.gen
	measured.svc += serviceCPU() - p.svc
}

// serviceCPU is the service's user + system CPU time so far, from /proc (clock ticks of
// 10 ms), or 0 when no -pid was given.
func serviceCPU() float64 {
	if servicePid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", servicePid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is first, utime 12th.
	rest := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(rest) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(rest[11], 64)
	stime, _ := strconv.ParseFloat(rest[12], 64)
	return (utime + stime) / 100
}

// dialAll opens n websockets, 100 handshakes at a time (a thousand at once overflow the
// listen backlog of a service that accepts slowly).
func dialAll(url string, n int) ([]*websocket.Conn, error) {
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 16384}
	conns := make([]*websocket.Conn, n)
	for start := 0; start < n; start += 100 {
		end := min(start+100, n)
		errs := make(chan error, end-start)
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c, _, err := dialer.Dial(url, nil)
				conns[i] = c
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				closeAll(conns)
				return nil, fmt.Errorf("connect %s: %w", url, err)
			}
		}
	}
	return conns, nil
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
				time.Now().Add(time.Second))
			_ = c.Close()
		}
	}
}

// response is the part of a service's answer the measures look at.
type response struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

func readResponse(c *websocket.Conn) (response, error) {
	var r response
	_ = c.SetReadDeadline(time.Now().Add(deadline))
	_, data, err := c.ReadMessage()
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(data, &r)
	return r, err
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(i, len(sorted)-1)]
}

func summary(values []float64) map[string]float64 {
	sort.Float64s(values)
	return map[string]float64{
		"p50": percentile(values, 0.5),
		"p99": percentile(values, 0.99),
		"max": percentile(values, 1),
	}
}

func waitSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}

// influx accepts InfluxDB 1.x writes and pings, keeping nothing.
func influx(listen string) error {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/query":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"results":[{"statement_id":0}]}`))
		default: // /write, /ping
			w.WriteHeader(http.StatusNoContent)
		}
	})
	server := &http.Server{Addr: listen, Handler: handler}
	go func() {
		waitSignal()
		_ = server.Close()
	}()
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
