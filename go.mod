module github.com/fleare-manager/fleare-manager

go 1.26
