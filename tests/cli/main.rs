mod team;
