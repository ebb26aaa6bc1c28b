package main

import "os"

var osExit = os.Exit
