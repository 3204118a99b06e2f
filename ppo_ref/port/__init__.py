"""The porting kit."""
