"""Check and rebuild what pack.py cut into parts (packing.py):

python3 ops/remote-gpu/unpack.py BATCH... --into . [--overwrite]
"""

from pack import unpack_command

if __name__ == "__main__":
    unpack_command()
