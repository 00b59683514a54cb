// Connect the way a Go program does (net.Dial) and print what happened:
// `client HOST PORT` prints `connected ADDRESS` or `error MESSAGE`.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(os.Args[1], os.Args[2]), 5*time.Second)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	fmt.Println("connected", host)
	c.Close()
}
