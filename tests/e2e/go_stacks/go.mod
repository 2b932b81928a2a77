module gostacks

go 1.19
