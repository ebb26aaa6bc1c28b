from choreograph.cli.testground import main

main()
