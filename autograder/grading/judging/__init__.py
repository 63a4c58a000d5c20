"""The trusted side: answers documents read back and bounded, the rules, and the judge that
compares a student's values with the solution's. Imports nothing that runs in a kernel."""
