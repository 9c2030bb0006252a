from langprune.cli import main

main()
