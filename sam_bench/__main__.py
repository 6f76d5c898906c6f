from sam_bench.cli import main

main()
