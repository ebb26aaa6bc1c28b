module example.com/tiny

go 1.21

require (
	example.com/greet v0.0.0
	github.com/pkg/errors v0.9.1
)

replace example.com/greet => ../greet
