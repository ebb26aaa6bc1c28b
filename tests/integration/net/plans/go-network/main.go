// sdk-go's own network client under local:netns: ConfigureNetwork (JSON on the scoped
// network:<hostname> topic, then the callback barrier), an IPv4 change, GetDataNetworkIP,
// and a UDP round trip over two 50 ms links.
package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/testground/sdk-go/network"
	"github.com/testground/sdk-go/ptypes"
	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
)

func main() {
	run.InvokeMap(map[string]interface{}{"shaped-ping": run.InitializedTestCaseFn(shapedPing)})
}

func shapedPing(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, netclient, total := initCtx.SyncClient, initCtx.NetClient, runenv.TestInstanceCount

	cfg := &network.Config{
		Network:       "default",
		Enable:        true,
		Default:       network.LinkShape{Latency: 50 * time.Millisecond, Bandwidth: 1 << 20},
		CallbackState: "shaped",
		RoutingPolicy: network.DenyAll,
	}
	netclient.MustConfigureNetwork(ctx, cfg)

	seq := client.MustSignalAndWait(ctx, "ip-allocation", total)
	address := func(n int64) net.IP {
		ip := make(net.IP, 4)
		copy(ip, runenv.TestSubnet.IP.To4())
		ip[2], ip[3] = 3, byte(n)
		return ip
	}
	mine := address(seq)
	cfg.IPv4 = &ptypes.IPNet{IPNet: net.IPNet{IP: mine, Mask: runenv.TestSubnet.Mask}}
	cfg.CallbackState = "moved"
	netclient.MustConfigureNetwork(ctx, cfg)
	if got := netclient.MustGetDataNetworkIP(); !got.Equal(mine) {
		return fmt.Errorf("my data network IP is %s, expected %s", got, mine)
	}

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: mine, Port: 5000})
	if err != nil {
		return err
	}
	defer conn.Close()
	if seq == 1 {
		go func() {
			buf := make([]byte, 64)
			for {
				n, from, err := conn.ReadFromUDP(buf)
				if err != nil {
					return
				}
				_, _ = conn.WriteToUDP(buf[:n], from)
			}
		}()
	}
	client.MustSignalAndWait(ctx, "bound", total)
	if seq == 2 {
		best, buf := time.Hour, make([]byte, 64)
		peer := &net.UDPAddr{IP: address(1), Port: 5000}
		for i := 0; i < 5; i++ {
			started := time.Now()
			if _, err := conn.WriteToUDP([]byte("ping"), peer); err != nil {
				return err
			}
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				return err
			}
			if rtt := time.Since(started); rtt < best {
				best = rtt
			}
		}
		runenv.RecordMessage("udp rtt %s", best)
		if best < 100*time.Millisecond || best > 115*time.Millisecond {
			return fmt.Errorf("rtt %s outside [100ms, 115ms]", best)
		}
	}
	client.MustSignalAndWait(ctx, "done", total)
	return nil
}
