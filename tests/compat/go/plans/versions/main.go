// Two groups of one run, each built against its own version of github.com/pkg/errors.
//
// v0.9 made wrapped errors unwrappable (errors.Is sees through pkg/errors.Wrap); v0.8
// did not. Each instance checks that its binary carries the version its group pinned and
// that it behaves like that version, then the groups tell each other what they saw.
package main

import (
	"context"
	stderrors "errors"
	"fmt"
	"runtime/debug"

	pkgerrors "github.com/pkg/errors"
	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"
)

type report struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Unwraps bool   `json:"unwraps"`
}

func main() {
	run.InvokeMap(map[string]interface{}{"versions": run.InitializedTestCaseFn(versions)})
}

func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return ""
}

func versions(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	ctx := context.Background()
	want := runenv.StringParam("version")
	got := moduleVersion("github.com/pkg/errors")
	if got != want {
		return fmt.Errorf("group %s runs github.com/pkg/errors %s, its composition pinned %s", runenv.TestGroupID, got, want)
	}
	base := stderrors.New("base")
	unwraps := stderrors.Is(pkgerrors.Wrap(base, "context"), base)
	if unwraps != runenv.BooleanParam("unwraps") {
		return fmt.Errorf("errors.Is through Wrap gave %t with %s", unwraps, got)
	}
	topic := sync.NewTopic("reports", &report{})
	if _, err := initCtx.SyncClient.Publish(ctx, topic, &report{runenv.TestGroupID, got, unwraps}); err != nil {
		return err
	}
	ch := make(chan *report)
	if _, err := initCtx.SyncClient.Subscribe(ctx, topic, ch); err != nil {
		return err
	}
	seen := map[string]string{}
	for i := 0; i < runenv.TestInstanceCount; i++ {
		r := <-ch
		seen[r.Group] = r.Version
	}
	if len(seen) != 2 || seen["old"] == seen["new"] {
		return fmt.Errorf("expected two groups on two versions, saw %v", seen)
	}
	runenv.RecordMessage("versions seen: %v", seen)
	return nil
}
