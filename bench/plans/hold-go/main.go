// The Go twin of bench/plans/hold, written against sdk-go as a Testground user would: pass
// a barrier, publish, then wait on a subscription until released (an idle instance).
package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"
)

func main() {
	run.InvokeMap(map[string]interface{}{"hold": run.InitializedTestCaseFn(hold)})
}

func hold(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	ctx := context.Background()
	client := initCtx.SyncClient
	seq, err := client.SignalAndWait(ctx, "ready", runenv.TestInstanceCount)
	if err != nil {
		return err
	}
	if _, err := client.Publish(ctx, sync.NewTopic("ids", int64(0)), seq); err != nil {
		return err
	}
	release := make(chan string, 1)
	if _, err := client.Subscribe(ctx, sync.NewTopic("release", ""), release); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(runenv.TestOutputsPath, "idle"), nil, 0o644); err != nil {
		return err
	}
	if seq == 1 {
		path := runenv.StringParam("release_file")
		for {
			if _, err := os.Stat(path); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, err := client.Publish(ctx, sync.NewTopic("release", ""), "go"); err != nil {
			return err
		}
	}
	<-release
	return nil
}
