"""What a deployment serves: its typed settings, where its model comes from, and the
slot that holds the loaded model.
"""
