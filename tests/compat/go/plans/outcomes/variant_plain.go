//go:build !choreo_tagged
// +build !choreo_tagged

package main

const variant = "plain"
