//go:build fancy

package main

const variant = "fancy"
