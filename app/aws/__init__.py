"""What only Lambda needs: SnapStart's hooks and the lazy-import hook whose savings its
cold start is measured by.
"""
