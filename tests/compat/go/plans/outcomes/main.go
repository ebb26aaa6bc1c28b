// A Testground plan written against sdk-go exactly as a Testground user would.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"
)

var testcases = map[string]interface{}{
	"success":     run.InitializedTestCaseFn(success),
	"failure":     run.InitializedTestCaseFn(failure),
	"panic":       run.InitializedTestCaseFn(panics),
	"child-panic": run.InitializedTestCaseFn(childPanic),
	"params":      run.InitializedTestCaseFn(params),
	"barrier":     run.InitializedTestCaseFn(barrier),
	"pubsub":      run.InitializedTestCaseFn(pubsub),
	"metrics":     run.InitializedTestCaseFn(metrics),
	"silent-exit": run.InitializedTestCaseFn(silentExit),
	"variant":     run.InitializedTestCaseFn(checkVariant),
	"sleep":       run.InitializedTestCaseFn(sleep),
}

func main() {
	run.InvokeMap(testcases)
}

func success(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	runenv.RecordMessage("hello from group %s, instance seq %d", runenv.TestGroupID, initCtx.GlobalSeq)
	return nil
}

func failure(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	return errors.New("the system under test answered 503")
}

func panics(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	panic("boom in the test goroutine")
}

func childPanic(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	go func() {
		defer run.HandlePanics()
		panic("boom in a child goroutine")
	}()
	time.Sleep(10 * time.Second)
	return nil
}

func silentExit(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	fmt.Println("leaving without an outcome")
	osExit(3)
	return nil
}

func params(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	count := runenv.IntParam("count")
	ratio := runenv.FloatParam("ratio")
	flag := runenv.BooleanParam("flag")
	word := runenv.StringParam("word")
	var shape struct {
		Rows int   `json:"rows"`
		Cols []int `json:"cols"`
	}
	runenv.JSONParam("shape", &shape)
	got := fmt.Sprintf("count:%d ratio:%.2f flag:%t word:%s shape:%d/%v group:%s", count, ratio, flag, word, shape.Rows, shape.Cols, runenv.TestGroupID)
	runenv.RecordMessage(got)
	want := runenv.StringParam("expect")
	if got != want {
		return fmt.Errorf("params: got %q, want %q", got, want)
	}
	return nil
}

func barrier(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	ctx := context.Background()
	client := initCtx.SyncClient
	n := runenv.TestInstanceCount
	for round := 0; round < 3; round++ {
		state := sync.State(fmt.Sprintf("round-%d", round))
		seq, err := client.SignalAndWait(ctx, state, n)
		if err != nil {
			return err
		}
		if seq < 1 || seq > int64(n) {
			return fmt.Errorf("round %d: seq %d outside 1..%d", round, seq, n)
		}
	}
	return nil
}

type note struct {
	From int64 `json:"from"`
	N    int   `json:"n"`
}

func pubsub(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	ctx := context.Background()
	client := initCtx.SyncClient
	topic := sync.NewTopic("notes", &note{})
	for i := 0; i < 5; i++ {
		if _, err := client.Publish(ctx, topic, &note{From: initCtx.GlobalSeq, N: i}); err != nil {
			return err
		}
	}
	// Subscribe only after everyone published: history replay must deliver all, in order.
	client.MustSignalAndWait(ctx, "published", runenv.TestInstanceCount)
	ch := make(chan *note)
	if _, err := client.Subscribe(ctx, topic, ch); err != nil {
		return err
	}
	last := map[int64]int{}
	for i := 0; i < 5*runenv.TestInstanceCount; i++ {
		n := <-ch
		if prev, ok := last[n.From]; ok && n.N != prev+1 {
			return fmt.Errorf("out of order from %d: %d after %d", n.From, n.N, prev)
		}
		last[n.From] = n.N
	}
	if len(last) != runenv.TestInstanceCount {
		return fmt.Errorf("heard from %d instances, want %d", len(last), runenv.TestInstanceCount)
	}
	return nil
}

func metrics(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	for i := 0; i < 10; i++ {
		runenv.R().RecordPoint("latency_ms", float64(10+i))
	}
	runenv.R().Counter("requests").Inc(7)
	runenv.D().RecordPoint("queue_depth", 3)
	return nil
}

// checkVariant: the build tag chosen by the group's selectors decides the variant.
func checkVariant(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	want := runenv.StringParam("variant")
	runenv.RecordMessage("group %s built as %s", runenv.TestGroupID, variant)
	if variant != want {
		return fmt.Errorf("built as %q, want %q", variant, want)
	}
	initCtx.SyncClient.MustSignalAndWait(context.Background(), "variants-checked", runenv.TestInstanceCount)
	return nil
}

// sleep: an instance that is busy for a while, for tests that stop or kill it mid-run.
func sleep(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	runenv.RecordMessage("sleeping %d s", runenv.IntParam("seconds"))
	time.Sleep(time.Duration(runenv.IntParam("seconds")) * time.Second)
	return nil
}
