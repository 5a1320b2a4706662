"""shared/aws"""
