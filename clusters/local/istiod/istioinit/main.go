// Command istio-iptables is Istio's own init container (istio-init): pilot-agent's
// istio-iptables command, run in the local mesh's pod namespace with the arguments
// Istio's injector gave the pod's istio-init.
//
// It is a program of its own, not a subcommand of egress-istiod, because it runs once
// per pod on the pod's way to ready: this binary starts in a few milliseconds, where
// egress-istiod's initialisation of all of istiod takes some forty.
package main

import (
	"os"

	"github.com/spf13/cobra"

	istiolog "istio.io/istio/pkg/log"
	iptables "istio.io/istio/tools/istio-iptables/pkg/cmd"
)

func main() {
	// As in pilot-agent, the logging flags (--log_output_level, which the injection
	// template passes) belong to the root command.
	logOptions := istiolog.DefaultOptions()
	root := &cobra.Command{Use: "pilot-agent", SilenceUsage: true}
	logOptions.AttachCobraFlags(root)
	root.AddCommand(iptables.GetCommand(logOptions))
	root.SetArgs(os.Args[1:])
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
