// Command etcd is the sandbox's build of the upstream etcd server:
// it only calls the upstream entry point (see go.mod for the pinned version).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
