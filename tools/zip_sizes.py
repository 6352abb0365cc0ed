"""Each function's deployment zip as `sam deploy` makes it (bootstrap, deflated), and whether
it stays within the limit. Usage: zip_sizes.py BUILD_DIR LIMIT_BYTES"""
import io
import pathlib
import sys
import zipfile

build, limit = pathlib.Path(sys.argv[1]), int(sys.argv[2])
over = []
rows = []
for bootstrap in sorted(build.glob("*/bootstrap")):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(bootstrap, "bootstrap")
    size = len(buf.getvalue())
    rows.append((bootstrap.parent.name, bootstrap.stat().st_size, size))
    if size > limit:
        over.append(bootstrap.parent.name)
if not rows:
    sys.exit(f"no */bootstrap under {build}: did sam build run?")
print(f"{'function':<28} {'bootstrap':>12} {'zip':>12}")
for name, raw, size in rows:
    print(f"{name:<28} {raw:>12,} {size:>12,}")
if over:
    sys.exit(f"over {limit:,} bytes zipped: {', '.join(over)}")
print(f"every zip within {limit:,} bytes")
