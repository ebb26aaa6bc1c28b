// Package greet lives outside the plan: the plan reaches it with `replace => ../greet`.
package greet

func Hello() string { return "hello from ../greet" }
