module gomp

go 1.19
