#!/bin/sh
# Entry point of swarmforge/mariadb: the tutorial database image's contract, read from swarm secrets.
#   MYSQL_ROOT_PASSWORD_FILE   root password (required on first start)
#   MYSQL_DATABASE             database created on first start
#   MYSQL_USER, MYSQL_PASSWORD_FILE   its owner
# Passwords are read from files only (swarm secrets under /run/secrets), never from the environment.
set -eu
datadir=/var/lib/mysql
read_secret() {
    [ -n "${1:-}" ] || { echo "db-start: $2 is not set: mount a swarm secret and point $2 at it" >&2; exit 1; }
    [ -r "$1" ] || { echo "db-start: $2=$1 cannot be read: is the secret attached to the service?" >&2; exit 1; }
    tr -d '\n' < "$1"
}
sql_quote() { printf "%s" "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }

mkdir -p /run/mysqld "$datadir"
chown mysql:mysql /run/mysqld "$datadir"
if [ ! -d "$datadir/mysql" ]; then
    root_password=$(read_secret "${MYSQL_ROOT_PASSWORD_FILE:-}" MYSQL_ROOT_PASSWORD_FILE)
    echo "db-start: initialising $datadir"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal \
        >/dev/null
    mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    for _ in $(seq 60); do
        mariadb --socket=/run/mysqld/init.sock -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 1
    done
    {
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sql_quote "$root_password")';"
        echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$(sql_quote "$root_password")';"
        echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "${MYSQL_DATABASE:-}" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;"
            if [ -n "${MYSQL_USER:-}" ]; then
                user_password=$(read_secret "${MYSQL_PASSWORD_FILE:-}" MYSQL_PASSWORD_FILE)
                echo "CREATE USER IF NOT EXISTS '${MYSQL_USER}'@'%' IDENTIFIED BY '$(sql_quote "$user_password")';"
                echo "GRANT ALL ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';"
            fi
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    kill "$pid"
    wait "$pid" || true
    echo "db-start: initialised"
fi
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 --skip-name-resolve \
    --socket=/run/mysqld/mysqld.sock
