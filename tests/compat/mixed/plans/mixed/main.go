// The Go half of the `meet` case (sdk-go); main.py and index.js are the Python and
// JavaScript halves, with the same steps on the same states and topic.
package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"
)

type entry struct {
	Lang     string `json:"lang"`
	Group    string `json:"group"`
	Seq      int64  `json:"seq"`
	Greeting string `json:"greeting"`
}

func main() {
	// InitializedTestCaseFn attaches the sync client to the run environment, so the
	// outcome is also published on run_events, the only place Testground counts it.
	run.InvokeMap(map[string]interface{}{"meet": run.InitializedTestCaseFn(meet)})
}

func meet(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	ctx := context.Background()
	client := initCtx.SyncClient
	total := runenv.TestInstanceCount

	seq, err := client.SignalEntry(ctx, "enrolled")
	if err != nil {
		return err
	}
	topic := sync.NewTopic("roster", &entry{})
	mine := &entry{"go", runenv.TestGroupID, seq, runenv.StringParam("greeting")}
	if _, err := client.Publish(ctx, topic, mine); err != nil {
		return err
	}
	if err := <-client.MustBarrier(ctx, "enrolled", total).C; err != nil {
		return err
	}
	ch := make(chan *entry)
	if _, err := client.Subscribe(ctx, topic, ch); err != nil {
		return err
	}
	var seqs []int
	langs, greetings := map[string]bool{}, map[string]bool{}
	for i := 0; i < total; i++ {
		e := <-ch
		seqs = append(seqs, int(e.Seq))
		langs[e.Lang] = true
		greetings[e.Group+":"+e.Greeting] = true
	}
	sort.Ints(seqs)
	for i, s := range seqs {
		if s != i+1 {
			return fmt.Errorf("enrolment numbers %v are not 1..%d", seqs, total)
		}
	}
	for round := 0; round < runenv.IntParam("rounds"); round++ {
		if _, err := client.SignalAndWait(ctx, sync.State(fmt.Sprintf("round-%d", round)), total); err != nil {
			return err
		}
	}
	runenv.RecordMessage("roster langs=%s greetings=%s", keys(langs), keys(greetings))
	return nil
}

func keys(set map[string]bool) string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
