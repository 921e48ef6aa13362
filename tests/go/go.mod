module tlsprobe

go 1.19
