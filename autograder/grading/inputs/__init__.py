"""What comes in: a class's submissions in any layout, one folder per student, and the
identities that stay the same from run to run."""
