// A tiny plan for docker:go: a module from the proxy, a folder outside the plan, a tag.
package main

import (
	"fmt"

	"example.com/greet"
	"github.com/pkg/errors"
)

func main() {
	fmt.Println(greet.Hello(), variant, errors.New("via pkg/errors"))
}
