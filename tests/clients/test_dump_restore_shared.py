"""mariadb-dump and restore through shardcat with two nodes on one server:
test_dump_restore_sharded.py's checks with node n1 as databases `<db>_0`
and node n2 as `<db>_1` of n1's server (`[[node]] database`). The dump
must show only logical names (no `_0`/`_1` database or physical table),
the restore must put every row in the physical table and database the
rules name, and a re-dump must be the same text.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_dump_restore_sharded  # noqa: E402

if __name__ == "__main__":
    test_dump_restore_sharded.main(shared_server=True)
