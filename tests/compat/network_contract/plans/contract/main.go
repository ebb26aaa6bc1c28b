// Testground's network and outcome contract, checked with sdk-go exactly as Testground's own
// plans use it (plans/_integrations, plans/verify).
package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
)

var testcases = map[string]interface{}{
	"stdout-only-success": stdoutOnlySuccess,
	"stdout-only-failure": stdoutOnlyFailure,
	"interfaces":          run.InitializedTestCaseFn(interfaces),
}

func main() {
	run.InvokeMap(testcases)
}

func stdoutOnlySuccess(runenv *runtime.RunEnv) error {
	runenv.RecordMessage("returning nil without a sync client")
	return nil
}

func stdoutOnlyFailure(runenv *runtime.RunEnv) error {
	return errors.New("failing without a sync client")
}

var controlNet = &net.IPNet{IP: net.IPv4(192, 18, 0, 0), Mask: net.CIDRMask(16, 32)}

func interfaces(runenv *runtime.RunEnv, initCtx *run.InitContext) error {
	// Testground's verify looks the interfaces up by these names.
	for _, want := range []struct {
		name  string
		where *net.IPNet
	}{{"eth0", controlNet}, {"eth1", &runenv.TestSubnet.IPNet}} {
		iface, err := net.InterfaceByName(want.name)
		if err != nil {
			return fmt.Errorf("no interface %s: %w", want.name, err)
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return err
		}
		found := 0
		for _, addr := range addrs {
			ip, _, err := net.ParseCIDR(addr.String())
			if err != nil {
				return err
			}
			if ip.To4() == nil || !want.where.Contains(ip) {
				return fmt.Errorf("%s has %s, outside %s", want.name, addr, want.where)
			}
			found++
		}
		if found != 1 {
			return fmt.Errorf("%s has %d addresses, want one in %s", want.name, found, want.where)
		}
		runenv.RecordMessage("%s: %s", want.name, addrs[0])
	}
	ip, err := initCtx.NetClient.GetDataNetworkIP()
	if err != nil {
		return err
	}
	runenv.RecordMessage("data network IP: %s", ip)
	return nil
}
