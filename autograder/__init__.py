"""Genre Lab autograder."""
