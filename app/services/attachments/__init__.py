"""Evidence: uploads, what a file is, where content is stored, verification by a guardian, retention."""
