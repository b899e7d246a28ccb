package templating_test

import "io/fs"

func errNotExist() error { return fs.ErrNotExist }
