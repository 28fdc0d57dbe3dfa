public enum MongoPlaceholder {}
