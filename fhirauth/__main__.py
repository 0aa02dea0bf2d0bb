from fhirauth.cli import main

main()
