from sheetsync.cli import main

main()
