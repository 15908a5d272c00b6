#!/bin/sh
# tree: the layout rules the compiler cannot check -- no include loop
# between modules, no file over 800 lines without a stated reason
# (scripts/check-tree says which).
exec python3 "$top_srcdir/scripts/check-tree" "$top_srcdir"
