"""Operations on one stored image: opening it (`opening`), the wrong-key lockout (`lockout`),
records from before the vault (`legacy`), shares (`shares`), and zip and delete (`deletion`)."""
